"""Names AWS keeps per account and region (not auto-named by Pulumi) must not collide between stacks."""

import pulumi


def stack_unique(name: str) -> str:
    return f"{pulumi.get_project()}-{pulumi.get_stack()}-{name}"
