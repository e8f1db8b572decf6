//! Learner progress, stored crash-safely.
