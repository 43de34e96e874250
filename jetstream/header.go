package jetstream

// Header holds the headers of a relay message: the position headers
// (HeaderFile, HeaderPos, …), the part headers (parts.go) and the message
// id that makes a re-publish a no-op (HeaderMsgID). It has the shape of a
// NATS message's headers, so the JetStream implementation passes it as is;
// the actors handle it without knowing NATS.
type Header map[string][]string

// HeaderMsgID is the header whose value identifies a message for the
// relay's duplicate window (JetStream's Nats-Msg-Id).
const HeaderMsgID = "Nats-Msg-Id"

// Get returns the first value of key, "" when it has none.
func (h Header) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set makes value the only value of key.
func (h Header) Set(key, value string) { h[key] = []string{value} }
