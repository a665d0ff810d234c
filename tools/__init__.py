"""Tools around a deployed gateway: driving stacks from Python (Automation API) and managing users' budgets."""
