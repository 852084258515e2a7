"""How `vibethinker-nano` was made: the trace format, the tokenizer and the (torch) training run.

Only `train.py` and `model.py` need torch; nothing in the runtime imports this package.
"""
