"""Data sources that produce keypoints in the contract of docs/design.md ("Data contract")."""
