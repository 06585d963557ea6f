"""Analysis: Model -> Report (shapes, parameters, MACs, receptive fields, memory), torch-free."""
