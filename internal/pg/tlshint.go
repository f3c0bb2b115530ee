package pg

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// tlsHint says what to change when the server's certificate failed
// verification (sslmode=verify-ca or verify-full), or "" when err is not
// that. The generic "check the URL" would leave a user guessing which of its
// parts is wrong.
func tlsHint(role Role, host string, err error) string {
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		return ""
	}
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(verr.Err, &unknown):
		return fmt.Sprintf("the %s server's certificate is not signed by the CA that sslrootcert names; "+
			"point sslrootcert in %s at the CA certificate your provider gives (or ~/.postgresql/root.crt)", role, role.EnvVar())
	case errors.As(verr.Err, &name):
		return fmt.Sprintf("the %s server's certificate is not for host %q; connect by a name the certificate lists, "+
			"or use sslmode=verify-ca in %s to check the CA only", role, host, role.EnvVar())
	case errors.As(verr.Err, &invalid):
		return fmt.Sprintf("the %s server's certificate is not valid (expired, or not yet valid); ask the server's admin to renew it", role)
	}
	return fmt.Sprintf("the %s server's certificate could not be verified; check sslmode and sslrootcert in %s", role, role.EnvVar())
}
