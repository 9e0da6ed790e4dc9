// Package vxlan is the VXLAN endpoint of libshmif's bridges (RFC 7348).
package vxlan
