//! Where kubetutor keeps its files.
