//! git actions (to be written).
