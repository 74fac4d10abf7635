"""The partition processors: what one partition of address state and one partition of
contact state do with a batch of commands, and which partition owns what. No Kafka, no
I/O: the faust worker (streams/) and replay (replay/) are two runners of these."""
