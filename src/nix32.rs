//! nix-base32 (placeholder until the formats work lands).
