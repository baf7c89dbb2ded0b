package control

// sealedField is one stored value that Keyring protects, by field name.
type sealedField struct {
	name  string
	value *string
}

// sealFields seals each field's value in place under kr's current key,
// for owner; a nil kr leaves them plain (see Config.Keyring).
func sealFields(kr *Keyring, owner string, fields []sealedField) error {
	if kr == nil {
		return nil
	}
	for _, f := range fields {
		var err error
		if *f.value, err = kr.Seal(*f.value, owner, f.name); err != nil {
			return err
		}
	}
	return nil
}

// openFields opens each field's value in place; plain values stay as
// they are.
func openFields(kr *Keyring, owner string, fields []sealedField) error {
	for _, f := range fields {
		var err error
		if *f.value, err = kr.Open(*f.value, owner, f.name); err != nil {
			return err
		}
	}
	return nil
}

// sealAccount returns a copy of a with its sealed fields sealed under the
// current key, for the store.
func (s *Service) sealAccount(a *Account) (*Account, error) {
	out := *a
	if err := sealFields(s.cfg.Keyring, a.ID, accountFields(&out)); err != nil {
		return nil, err
	}
	return &out, nil
}

// openAccount opens a's sealed fields in place.
func (s *Service) openAccount(a *Account) error {
	return openFields(s.cfg.Keyring, a.ID, accountFields(a))
}

// accountFields are a's sealed fields.
func accountFields(a *Account) []sealedField {
	return []sealedField{{FieldName, &a.Name}, {FieldEmail, &a.Email}, {FieldCompany, &a.Company},
		{FieldBillingAddress, &a.BillingAddress}, {FieldPhone, &a.Phone}}
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
