// The KeepalivedConfig module; see Package.swift for its role.
