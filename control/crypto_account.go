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
	var err error
	if out.BillingAddress, err = kr.Seal(a.BillingAddress, a.ID, FieldBillingAddress); err != nil {
		return nil, err
	}
	if out.Phone, err = kr.Seal(a.Phone, a.ID, FieldPhone); err != nil {
		return nil, err
	}
	return &out, nil
}

// openAccount opens a's sealed fields in place.
func (s *Service) openAccount(a *Account) error {
	kr := s.cfg.Keyring
	var err error
	if a.BillingAddress, err = kr.Open(a.BillingAddress, a.ID, FieldBillingAddress); err != nil {
		return err
	}
	if a.Phone, err = kr.Open(a.Phone, a.ID, FieldPhone); err != nil {
		return err
	}
	return nil
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
