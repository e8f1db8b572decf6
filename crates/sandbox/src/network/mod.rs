//! The pods' network: each pod's ports on real loopback listeners
//! (`netns`), what a pod reaches by name or address (`podnet`), and what a
//! Service selects (`services`). Below the node, the shell and the images,
//! which all dial through it.

pub(crate) mod netns;
pub(crate) mod podnet;
pub(crate) mod services;
