//! The narinfo store (placeholder until the store work lands).
