"""TRL SFT / DPO training with PEFT, checkpoint registry, evaluation and promotion."""
