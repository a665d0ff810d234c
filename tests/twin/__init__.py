"""The VPC twin: a stack's planned network built in Linux network namespaces from its plan, driven with real packets
(see vpc.py for the layout, plan.py for what is read from the graph, fck-nat.sh for the NAT boot)."""
