// RealServer module (see RealServer.swift)
