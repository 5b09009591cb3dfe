"""evaluation stage of bergforge."""
