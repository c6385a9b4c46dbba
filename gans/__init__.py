"""A gallery of GANs built on minigrad; start with `python -m gans.train_dcgan`.

Reading order: data.py (Fashion-MNIST), dcgan.py and gan.py (the lecture's models), train.py (the one
training loop they share), images.py (grids, GIF, loss plot), evaluate.py (the quality number).
"""
