//! Prompts at a terminal (to be written).
