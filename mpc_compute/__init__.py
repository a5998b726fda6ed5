"""Secret-sharing compute: SPU runtime glue, the algorithm library, party runner, clients and node."""
