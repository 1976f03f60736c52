//! make-changes tools (to be written).
