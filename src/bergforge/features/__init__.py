"""features stage of bergforge."""
