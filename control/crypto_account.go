package control

// sealAccount returns a copy of a with its sealed fields sealed under the
// current key, for the store. Without a keyring they stay plain text
// (see Config.Keyring).
func (s *Service) sealAccount(a *Account) (*Account, error) {
	out := *a
	kr := s.cfg.Keyring
	if kr == nil {
		return &out, nil
	}
	for _, f := range accountFields(&out) {
		var err error
		if *f.value, err = kr.Seal(*f.value, a.ID, f.name); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// openAccount opens a's sealed fields in place.
func (s *Service) openAccount(a *Account) error {
	for _, f := range accountFields(a) {
		var err error
		if *f.value, err = s.cfg.Keyring.Open(*f.value, a.ID, f.name); err != nil {
			return err
		}
	}
	return nil
}

// accountFields are a's sealed fields, by name.
func accountFields(a *Account) []struct {
	name  string
	value *string
} {
	return []struct {
		name  string
		value *string
	}{
		{FieldName, &a.Name}, {FieldEmail, &a.Email}, {FieldCompany, &a.Company}, {FieldBillingAddress, &a.BillingAddress}, {FieldPhone, &a.Phone},
	}
}

// opened opens the sealed fields of an account a store returned.
func (s *Service) opened(a *Account, err error) (*Account, error) {
	if err != nil {
		return nil, err
	}
	if err := s.openAccount(a); err != nil {
		return nil, err
	}
	return a, nil
}
