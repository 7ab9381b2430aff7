package dist

import "github.com/shmkit/shmkit/pool"

// SubmitUnknown submits one task of one item naming a function no program registered, as a
// submitter of another program (or version) would.
func SubmitUnknown(p *Pool) (*pool.AsyncResult[[]int], error) {
	ar, deliver := pool.NewRemoteList(1, func([]byte, *int) error { return nil })
	c := &chunk{s: listSink(deliver), fn: "example.com/other.missing"}
	c.addItem(nil)
	return ar, p.submit([]*chunk{c}, false)
}

// TidyEvery is how often pools and workers purge what they are done with.
const TidyEvery = tidyEvery
