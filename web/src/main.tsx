import { render } from 'preact'

render(<main><h1>carbelsad</h1></main>, document.getElementById('app')!)
