// The VRRPCore module; see Package.swift for its role.
