"""Training: the stage loop, its train and eval steps, the optimiser and losses, budgets and stop
signals, metrics and their writers, and how batches are laid over devices and processes."""
