package repository

import (
	"context"
	"crypto/sha256"
	"fmt"
)

// ---- snapshots ----

type snapshotsRepo struct{ s *store }

// maxBlob bounds snapshot and intent payloads (256 MiB).
const maxBlob = 256 << 20

func (r snapshotsRepo) Save(ctx context.Context, sn Snapshot) (Snapshot, error) {
	if err := checkID("snapshot.twin_id", sn.TwinID); err != nil {
		return Snapshot{}, err
	}
	if sn.Revision < 0 {
		return Snapshot{}, invalidf("snapshot.revision", "must not be negative, got %d", sn.Revision)
	}
	if len(sn.Data) == 0 {
		return Snapshot{}, invalidf("snapshot.data", "must not be empty")
	}
	if len(sn.Data) > maxBlob {
		return Snapshot{}, invalidf("snapshot.data", "%d bytes exceeds %d", len(sn.Data), maxBlob)
	}
	if sn.Taken.IsZero() {
		sn.Taken = r.s.now()
	}
	sn.Taken = micro(sn.Taken.UnixMicro())
	_, err := r.s.d.exec(ctx, `INSERT INTO snapshots (twin_id, revision, taken, data) VALUES ($1,$2,$3,$4)`,
		sn.TwinID, sn.Revision, sn.Taken.UnixMicro(), sn.Data)
	if err != nil {
		if r.s.d.isUniqueViolation(err) {
			return Snapshot{}, fmt.Errorf("repository: snapshot %s@%d already exists: %w", sn.TwinID, sn.Revision, ErrConflict)
		}
		return Snapshot{}, fmt.Errorf("repository: save snapshot %s@%d: %w", sn.TwinID, sn.Revision, err)
	}
	return sn, nil
}

func (r snapshotsRepo) get(ctx context.Context, what, q string, args ...any) (Snapshot, error) {
	var sn Snapshot
	var taken int64
	err := r.s.d.queryRow(ctx, q, args...).Scan(&sn.TwinID, &sn.Revision, &taken, &sn.Data)
	if err != nil {
		if r.s.d.isNoRows(err) {
			return Snapshot{}, fmt.Errorf("repository: snapshot %s: %w", what, ErrNotFound)
		}
		return Snapshot{}, fmt.Errorf("repository: snapshot %s: %w", what, err)
	}
	sn.Taken = micro(taken)
	return sn, nil
}

func (r snapshotsRepo) Latest(ctx context.Context, twinID string) (Snapshot, error) {
	if err := checkID("twin_id", twinID); err != nil {
		return Snapshot{}, err
	}
	return r.get(ctx, twinID+"@latest", `SELECT twin_id, revision, taken, data FROM snapshots
		WHERE twin_id = $1 ORDER BY revision DESC LIMIT 1`, twinID)
}

func (r snapshotsRepo) Get(ctx context.Context, twinID string, revision int64) (Snapshot, error) {
	if err := checkID("twin_id", twinID); err != nil {
		return Snapshot{}, err
	}
	return r.get(ctx, fmt.Sprintf("%s@%d", twinID, revision), `SELECT twin_id, revision, taken, data FROM snapshots
		WHERE twin_id = $1 AND revision = $2`, twinID, revision)
}

func (r snapshotsRepo) List(ctx context.Context, twinID string) ([]Snapshot, error) {
	if err := checkText("twin_id", twinID); err != nil {
		return nil, err
	}
	q := `SELECT twin_id, revision, taken FROM snapshots`
	var args []any
	if twinID != "" {
		q += ` WHERE twin_id = $1`
		args = append(args, twinID)
	}
	q += ` ORDER BY twin_id, revision`
	rows, err := r.s.d.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("repository: list snapshots: %w", err)
	}
	defer rows.Close()
	out := []Snapshot{}
	for rows.Next() {
		var sn Snapshot
		var taken int64
		if err := rows.Scan(&sn.TwinID, &sn.Revision, &taken); err != nil {
			return nil, fmt.Errorf("repository: list snapshots: %w", err)
		}
		sn.Taken = micro(taken)
		out = append(out, sn)
	}
	return out, rows.Err()
}

func (r snapshotsRepo) Delete(ctx context.Context, twinID string, revision int64) error {
	if err := checkID("twin_id", twinID); err != nil {
		return err
	}
	n, err := r.s.d.exec(ctx, `DELETE FROM snapshots WHERE twin_id = $1 AND revision = $2`, twinID, revision)
	if err != nil {
		return fmt.Errorf("repository: delete snapshot %s@%d: %w", twinID, revision, err)
	}
	if n == 0 {
		return fmt.Errorf("repository: snapshot %s@%d: %w", twinID, revision, ErrNotFound)
	}
	return nil
}

// ---- intent journal ----

type intentsRepo struct{ s *store }

func (r intentsRepo) Append(ctx context.Context, rec IntentRecord) (IntentRecord, error) {
	if err := checkID("intent.twin_id", rec.TwinID); err != nil {
		return IntentRecord{}, err
	}
	if err := checkText("intent.change_id", rec.ChangeID); err != nil {
		return IntentRecord{}, err
	}
	if rec.Revision <= 0 {
		return IntentRecord{}, invalidf("intent.revision", "must be positive, got %d", rec.Revision)
	}
	if len(rec.Payload) == 0 {
		return IntentRecord{}, invalidf("intent.payload", "must not be empty")
	}
	if len(rec.Payload) > maxBlob {
		return IntentRecord{}, invalidf("intent.payload", "%d bytes exceeds %d", len(rec.Payload), maxBlob)
	}
	rec.At = micro(r.s.nowMicro())
	err := r.s.withTx(ctx, func(t txn) error {
		var last int64
		if err := t.queryRow(ctx, `SELECT COALESCE(MAX(revision), 0) FROM intents WHERE twin_id = $1`, rec.TwinID).Scan(&last); err != nil {
			return fmt.Errorf("repository: intent journal of %s: %w", rec.TwinID, err)
		}
		if rec.Revision <= last {
			return fmt.Errorf("repository: intent %s@%d: journal is already at revision %d: %w", rec.TwinID, rec.Revision, last, ErrConflict)
		}
		if _, err := t.exec(ctx, `INSERT INTO intents (twin_id, revision, at, change_id, payload) VALUES ($1,$2,$3,$4,$5)`,
			rec.TwinID, rec.Revision, rec.At.UnixMicro(), rec.ChangeID, rec.Payload); err != nil {
			if r.s.d.isUniqueViolation(err) {
				return fmt.Errorf("repository: intent %s@%d already exists: %w", rec.TwinID, rec.Revision, ErrConflict)
			}
			return fmt.Errorf("repository: append intent %s@%d: %w", rec.TwinID, rec.Revision, err)
		}
		return nil
	})
	if err != nil {
		return IntentRecord{}, err
	}
	return rec, nil
}

func (r intentsRepo) Since(ctx context.Context, twinID string, after int64) ([]IntentRecord, error) {
	if err := checkID("twin_id", twinID); err != nil {
		return nil, err
	}
	rows, err := r.s.d.query(ctx, `SELECT revision, at, change_id, payload FROM intents
		WHERE twin_id = $1 AND revision > $2 ORDER BY revision`, twinID, after)
	if err != nil {
		return nil, fmt.Errorf("repository: intents of %s: %w", twinID, err)
	}
	defer rows.Close()
	out := []IntentRecord{}
	for rows.Next() {
		rec := IntentRecord{TwinID: twinID}
		var at int64
		if err := rows.Scan(&rec.Revision, &at, &rec.ChangeID, &rec.Payload); err != nil {
			return nil, fmt.Errorf("repository: intents of %s: %w", twinID, err)
		}
		rec.At = micro(at)
		out = append(out, rec)
	}
	return out, rows.Err()
}

func (r intentsRepo) Truncate(ctx context.Context, twinID string, upTo int64) (int64, error) {
	if err := checkID("twin_id", twinID); err != nil {
		return 0, err
	}
	n, err := r.s.d.exec(ctx, `DELETE FROM intents WHERE twin_id = $1 AND revision <= $2`, twinID, upTo)
	if err != nil {
		return 0, fmt.Errorf("repository: truncate intents of %s: %w", twinID, err)
	}
	return n, nil
}

func (r intentsRepo) Discard(ctx context.Context, twinID string, from int64) (int64, error) {
	if err := checkID("twin_id", twinID); err != nil {
		return 0, err
	}
	if from < 1 {
		return 0, fmt.Errorf("%w: intent discard: from must be at least 1, got %d", ErrInvalid, from)
	}
	n, err := r.s.d.exec(ctx, `DELETE FROM intents WHERE twin_id = $1 AND revision >= $2`, twinID, from)
	if err != nil {
		return 0, fmt.Errorf("repository: discard intents of %s from %d: %w", twinID, from, err)
	}
	return n, nil
}

// ---- datasets ----

type datasetsRepo struct{ s *store }

func (r datasetsRepo) Put(ctx context.Context, d Dataset) (Dataset, error) {
	if err := checkID("dataset.id", d.ID); err != nil {
		return Dataset{}, err
	}
	if err := checkID("dataset.name", d.Name); err != nil {
		return Dataset{}, err
	}
	if err := checkID("dataset.status", d.Status); err != nil {
		return Dataset{}, err
	}
	var err error
	if d.Params, err = normJSON("dataset.params", d.Params); err != nil {
		return Dataset{}, err
	}
	if d.Meta, err = normJSON("dataset.meta", d.Meta); err != nil {
		return Dataset{}, err
	}
	now := r.s.nowMicro()
	var created int64
	err = r.s.d.queryRow(ctx, `INSERT INTO datasets (id, name, status, params, meta, created, updated)
		VALUES ($1,$2,$3,$4,$5,$6,$6)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, status = excluded.status, params = excluded.params,
			meta = excluded.meta, updated = excluded.updated
		RETURNING created`, d.ID, d.Name, d.Status, nullable(d.Params), nullable(d.Meta), now).Scan(&created)
	if err != nil {
		return Dataset{}, fmt.Errorf("repository: put dataset %q: %w", d.ID, err)
	}
	d.Created, d.Updated = micro(created), micro(now)
	return d, nil
}

const datasetCols = `id, name, status, params, meta, created, updated`

func scanDataset(r scanner) (Dataset, error) {
	var d Dataset
	var params, meta *string
	var created, updated int64
	if err := r.Scan(&d.ID, &d.Name, &d.Status, &params, &meta, &created, &updated); err != nil {
		return Dataset{}, err
	}
	d.Params, d.Meta, d.Created, d.Updated = rawOrNil(params), rawOrNil(meta), micro(created), micro(updated)
	return d, nil
}

func (r datasetsRepo) Get(ctx context.Context, id string) (Dataset, error) {
	if err := checkID("dataset.id", id); err != nil {
		return Dataset{}, err
	}
	d, err := scanDataset(r.s.d.queryRow(ctx, `SELECT `+datasetCols+` FROM datasets WHERE id = $1`, id))
	if err != nil {
		if r.s.d.isNoRows(err) {
			return Dataset{}, fmt.Errorf("repository: dataset %q: %w", id, ErrNotFound)
		}
		return Dataset{}, fmt.Errorf("repository: get dataset %q: %w", id, err)
	}
	return d, nil
}

func (r datasetsRepo) List(ctx context.Context) ([]Dataset, error) {
	rows, err := r.s.d.query(ctx, `SELECT `+datasetCols+` FROM datasets ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("repository: list datasets: %w", err)
	}
	defer rows.Close()
	out := []Dataset{}
	for rows.Next() {
		d, err := scanDataset(rows)
		if err != nil {
			return nil, fmt.Errorf("repository: list datasets: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (r datasetsRepo) Delete(ctx context.Context, id string) error {
	if err := checkID("dataset.id", id); err != nil {
		return err
	}
	n, err := r.s.d.exec(ctx, `DELETE FROM datasets WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("repository: delete dataset %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("repository: dataset %q: %w", id, ErrNotFound)
	}
	return nil
}

// ---- certifications ----

type certsRepo struct{ s *store }

func (r certsRepo) Create(ctx context.Context, c Certification) (Certification, error) {
	if err := checkID("certification.id", c.ID); err != nil {
		return Certification{}, err
	}
	if err := checkText("certification.change_id", c.ChangeID); err != nil {
		return Certification{}, err
	}
	if err := checkID("certification.verdict", c.Verdict); err != nil {
		return Certification{}, err
	}
	var err error
	if c.Report, err = normJSON("certification.report", c.Report); err != nil {
		return Certification{}, err
	}
	c.Created = micro(r.s.nowMicro())
	if _, err := r.s.d.exec(ctx, `INSERT INTO certifications (id, change_id, verdict, report, created) VALUES ($1,$2,$3,$4,$5)`,
		c.ID, c.ChangeID, c.Verdict, nullable(c.Report), c.Created.UnixMicro()); err != nil {
		if r.s.d.isUniqueViolation(err) {
			return Certification{}, fmt.Errorf("repository: certification %q already exists: %w", c.ID, ErrConflict)
		}
		return Certification{}, fmt.Errorf("repository: create certification %q: %w", c.ID, err)
	}
	return c, nil
}

func scanCert(r scanner) (Certification, error) {
	var c Certification
	var report *string
	var created int64
	if err := r.Scan(&c.ID, &c.ChangeID, &c.Verdict, &report, &created); err != nil {
		return Certification{}, err
	}
	c.Report, c.Created = rawOrNil(report), micro(created)
	return c, nil
}

func (r certsRepo) Get(ctx context.Context, id string) (Certification, error) {
	if err := checkID("certification.id", id); err != nil {
		return Certification{}, err
	}
	c, err := scanCert(r.s.d.queryRow(ctx, `SELECT id, change_id, verdict, report, created FROM certifications WHERE id = $1`, id))
	if err != nil {
		if r.s.d.isNoRows(err) {
			return Certification{}, fmt.Errorf("repository: certification %q: %w", id, ErrNotFound)
		}
		return Certification{}, fmt.Errorf("repository: get certification %q: %w", id, err)
	}
	return c, nil
}

func (r certsRepo) List(ctx context.Context, changeID string) ([]Certification, error) {
	q := `SELECT id, change_id, verdict, report, created FROM certifications`
	var args []any
	if changeID != "" {
		q += ` WHERE change_id = $1`
		args = append(args, changeID)
	}
	rows, err := r.s.d.query(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("repository: list certifications: %w", err)
	}
	defer rows.Close()
	out := []Certification{}
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, fmt.Errorf("repository: list certifications: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ---- users ----

type usersRepo struct{ s *store }

func checkUser(u User) error {
	if err := checkID("user.id", u.ID); err != nil {
		return err
	}
	if err := checkID("user.name", u.Name); err != nil {
		return err
	}
	return checkID("user.role", u.Role)
}

func (r usersRepo) Create(ctx context.Context, u User) (User, error) {
	if err := checkUser(u); err != nil {
		return User{}, err
	}
	u.Created = micro(r.s.nowMicro())
	if _, err := r.s.d.exec(ctx, `INSERT INTO users (id, name, role, password_hash, created) VALUES ($1,$2,$3,$4,$5)`,
		u.ID, u.Name, u.Role, u.PasswordHash, u.Created.UnixMicro()); err != nil {
		if r.s.d.isUniqueViolation(err) {
			return User{}, fmt.Errorf("repository: user %q or name %q already exists: %w", u.ID, u.Name, ErrConflict)
		}
		return User{}, fmt.Errorf("repository: create user %q: %w", u.ID, err)
	}
	return u, nil
}

func (r usersRepo) one(ctx context.Context, what, q string, arg string) (User, error) {
	var u User
	var created int64
	err := r.s.d.queryRow(ctx, q, arg).Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, &created)
	if err != nil {
		if r.s.d.isNoRows(err) {
			return User{}, fmt.Errorf("repository: user %s: %w", what, ErrNotFound)
		}
		return User{}, fmt.Errorf("repository: get user %s: %w", what, err)
	}
	u.Created = micro(created)
	return u, nil
}

func (r usersRepo) Get(ctx context.Context, id string) (User, error) {
	if err := checkID("user.id", id); err != nil {
		return User{}, err
	}
	return r.one(ctx, fmt.Sprintf("%q", id), `SELECT id, name, role, password_hash, created FROM users WHERE id = $1`, id)
}

func (r usersRepo) GetByName(ctx context.Context, name string) (User, error) {
	if err := checkID("user.name", name); err != nil {
		return User{}, err
	}
	return r.one(ctx, fmt.Sprintf("named %q", name), `SELECT id, name, role, password_hash, created FROM users WHERE name = $1`, name)
}

func (r usersRepo) List(ctx context.Context) ([]User, error) {
	rows, err := r.s.d.query(ctx, `SELECT id, name, role, password_hash, created FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("repository: list users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		var u User
		var created int64
		if err := rows.Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, &created); err != nil {
			return nil, fmt.Errorf("repository: list users: %w", err)
		}
		u.Created = micro(created)
		out = append(out, u)
	}
	return out, rows.Err()
}

func (r usersRepo) Update(ctx context.Context, u User) (User, error) {
	if err := checkUser(u); err != nil {
		return User{}, err
	}
	var created int64
	err := r.s.d.queryRow(ctx, `UPDATE users SET name = $2, role = $3, password_hash = $4 WHERE id = $1 RETURNING created`,
		u.ID, u.Name, u.Role, u.PasswordHash).Scan(&created)
	if err != nil {
		switch {
		case r.s.d.isNoRows(err):
			return User{}, fmt.Errorf("repository: user %q: %w", u.ID, ErrNotFound)
		case r.s.d.isUniqueViolation(err):
			return User{}, fmt.Errorf("repository: user name %q is taken: %w", u.Name, ErrConflict)
		}
		return User{}, fmt.Errorf("repository: update user %q: %w", u.ID, err)
	}
	u.Created = micro(created)
	return u, nil
}

func (r usersRepo) Delete(ctx context.Context, id string) error {
	if err := checkID("user.id", id); err != nil {
		return err
	}
	return r.s.withTx(ctx, func(t txn) error {
		if _, err := t.exec(ctx, `DELETE FROM tokens WHERE user_id = $1`, id); err != nil {
			return fmt.Errorf("repository: delete tokens of %q: %w", id, err)
		}
		n, err := t.exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("repository: delete user %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("repository: user %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// ---- tokens ----

type tokensRepo struct{ s *store }

// HashToken returns the SHA-256 of a token secret: the only form a token is stored in.
// API tokens are high-entropy random secrets, so a fast hash is appropriate.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func (r tokensRepo) Create(ctx context.Context, t Token) (Token, error) {
	if err := checkID("token.id", t.ID); err != nil {
		return Token{}, err
	}
	if err := checkID("token.user_id", t.UserID); err != nil {
		return Token{}, err
	}
	if err := checkText("token.name", t.Name); err != nil {
		return Token{}, err
	}
	if len(t.Hash) != sha256.Size {
		return Token{}, invalidf("token.hash", "must be %d bytes (SHA-256, see HashToken), got %d", sha256.Size, len(t.Hash))
	}
	t.Created = micro(r.s.nowMicro())
	t.Expires = micro(toMicro(t.Expires))
	t.Revoked = false
	err := r.s.withTx(ctx, func(tx txn) error {
		var one int64
		if err := tx.queryRow(ctx, `SELECT 1 FROM users WHERE id = $1`, t.UserID).Scan(&one); err != nil {
			if r.s.d.isNoRows(err) {
				return fmt.Errorf("repository: token %q: user %q: %w", t.ID, t.UserID, ErrNotFound)
			}
			return fmt.Errorf("repository: create token %q: %w", t.ID, err)
		}
		if _, err := tx.exec(ctx, `INSERT INTO tokens (id, user_id, name, hash, created, expires, revoked) VALUES ($1,$2,$3,$4,$5,$6,0)`,
			t.ID, t.UserID, t.Name, t.Hash, t.Created.UnixMicro(), toMicro(t.Expires)); err != nil {
			if r.s.d.isUniqueViolation(err) {
				return fmt.Errorf("repository: token %q (or its hash) already exists: %w", t.ID, ErrConflict)
			}
			return fmt.Errorf("repository: create token %q: %w", t.ID, err)
		}
		return nil
	})
	if err != nil {
		return Token{}, err
	}
	return t, nil
}

const tokenCols = `id, user_id, name, hash, created, expires, revoked`

func scanToken(r scanner) (Token, error) {
	var t Token
	var created, expires, revoked int64
	if err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &created, &expires, &revoked); err != nil {
		return Token{}, err
	}
	t.Created, t.Expires, t.Revoked = micro(created), micro(expires), revoked != 0
	return t, nil
}

func (r tokensRepo) Lookup(ctx context.Context, hash []byte) (Token, error) {
	if len(hash) != sha256.Size {
		return Token{}, invalidf("token.hash", "must be %d bytes, got %d", sha256.Size, len(hash))
	}
	t, err := scanToken(r.s.d.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, hash))
	if err != nil {
		if r.s.d.isNoRows(err) {
			return Token{}, fmt.Errorf("repository: token: %w", ErrNotFound)
		}
		return Token{}, fmt.Errorf("repository: lookup token: %w", err)
	}
	return t, nil
}

func (r tokensRepo) List(ctx context.Context, userID string) ([]Token, error) {
	q := `SELECT ` + tokenCols + ` FROM tokens`
	var args []any
	if userID != "" {
		q += ` WHERE user_id = $1`
		args = append(args, userID)
	}
	rows, err := r.s.d.query(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("repository: list tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("repository: list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (r tokensRepo) Revoke(ctx context.Context, id string) error {
	if err := checkID("token.id", id); err != nil {
		return err
	}
	n, err := r.s.d.exec(ctx, `UPDATE tokens SET revoked = 1 WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("repository: revoke token %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("repository: token %q: %w", id, ErrNotFound)
	}
	return nil
}
