//! GitHub REST client (to be written).
