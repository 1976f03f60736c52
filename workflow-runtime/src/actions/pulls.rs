//! Pull request actions (to be written).
