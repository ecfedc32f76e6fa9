"""The offline demo: a synthetic community written in the real export formats."""
