"""Models built from the layers: FullyConnectedNet and ThreeLayerConvNet."""
