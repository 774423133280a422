# The classic entry point (`bash get_datasets.sh`); takes the same arguments as get_datasets.py.
exec "${PYTHON:-python3}" "$(dirname "$0")/get_datasets.py" "$@"
