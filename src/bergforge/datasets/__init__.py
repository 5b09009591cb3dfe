"""Dataset facts (channel names, layouts) and readers of the raw formats."""
