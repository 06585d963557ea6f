"""`cnntool check`: a spec against its expect blocks, the built module, fvcore and torchvision."""
