// The NetlinkCodec module; see Package.swift for its role.
