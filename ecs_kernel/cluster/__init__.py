"""Backends for independent pieces of work: in this process (the default), a local process pool,
or Ray (backend.py: ``open_backend``, ``connect_ray``); sweeps of simulations (sweep.py) and
campaigns of hypothesis state machines (campaign.py) built on them. docs/cluster.md."""
