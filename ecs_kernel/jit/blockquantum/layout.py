"""The block-quantum hook's control block: int64 slots (see ``blockquantum/__init__.py``)."""
BQ_BUDGET = 0  # blocks left (0: disarmed, the hook returns at once)
BQ_STOP = 1  # the address of uc_emu_stop
BQ_ENDED = 2  # 1 when the hook stopped the engine
BQ_SIZE = 4
