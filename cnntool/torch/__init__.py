"""The torch side: Model -> torch.nn.Module, and the adapters that count in torch and fvcore."""
