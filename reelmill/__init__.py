"""reelmill: batch one-click video production."""
