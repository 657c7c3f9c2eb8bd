"""Training side: dataset readers, dynamic images, synthetic data, DIANet and LOSO training."""
