"""berg stage of bergforge."""
