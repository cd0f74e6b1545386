"""Training utilities shared by the recipes: schedules and callbacks."""
