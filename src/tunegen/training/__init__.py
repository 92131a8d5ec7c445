"""Training with Lightning: configs, the LightningModule, callbacks, resume and fine-tuning."""
