"""The data holders' side of compute: `input` shares and seals a listing, `output` reconstructs a result."""
