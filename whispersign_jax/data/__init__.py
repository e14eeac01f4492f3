"""Data sources that produce keypoints in the contract of DESIGN.md section 1."""
