/**
 * `npm run setup:superadmin`: creates the first superadmin. At a terminal it asks (the password is
 * not echoed and asked twice); otherwise it takes --username/--email/--password or the
 * SUPERADMIN_USERNAME/SUPERADMIN_EMAIL/SUPERADMIN_PASSWORD variables.
 */
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../config/config.js'
import { createDatabase } from '../db/database.js'
import { hashPassword, passwordProblem } from '../lib/passwords.js'
import { createAuditRepository } from '../modules/audit/audit-repository.js'
import { createUsersRepository } from '../modules/users/users-repository.js'

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const USERNAME = /^[A-Za-z0-9_.-]{3,50}$/

async function ask(question: string, hidden = false): Promise<string> {
  process.stdout.write(question)
  return new Promise((resolve) => {
    const input = process.stdin
    let value = ''
    input.setRawMode?.(hidden)
    input.resume()
    input.setEncoding('utf8')
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') {
          input.setRawMode?.(false)
          input.pause()
          input.off('data', onData)
          if (hidden) process.stdout.write('\n')
          resolve(value)
          return
        }
        if (char === '\u0003') process.exit(130)
        if (char === '\u007f') value = value.slice(0, -1)
        else value += char
      }
    }
    input.on('data', onData)
  })
}

async function readInput() {
  const { values } = parseArgs({ options: { username: { type: 'string' }, email: { type: 'string' }, password: { type: 'string' } } })
  let username = values.username ?? process.env.SUPERADMIN_USERNAME
  let email = values.email ?? process.env.SUPERADMIN_EMAIL
  let password = values.password ?? process.env.SUPERADMIN_PASSWORD
  const interactive = process.stdin.isTTY && (!username || !email || !password)
  if (interactive) {
    username ??= (await ask('Username: ')).trim()
    email ??= (await ask('Email: ')).trim()
    if (!password) {
      password = await ask('Password: ', true)
      if ((await ask('Repeat password: ', true)) !== password) throw new Error('the passwords do not match')
    }
  }
  if (!username || !email || !password) {
    throw new Error('give --username, --email and --password (or SUPERADMIN_USERNAME/EMAIL/PASSWORD), or run it at a terminal')
  }
  if (!USERNAME.test(username)) throw new Error('username must be 3-50 characters of letters, digits, _ . -')
  if (!EMAIL.test(email)) throw new Error('email is not a valid address')
  const problem = await passwordProblem(password, { username, email })
  if (problem) throw new Error(problem.toLowerCase())
  return { username, email, password }
}

async function main(): Promise<void> {
  const config = loadConfig()
  const input = await readInput()
  const database = await createDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: 1,
    prepare: config.databasePrepare,
    migrationUrl: config.databaseMigrationUrl,
  })
  try {
    await database.migrate()
    const users = createUsersRepository(database.db)
    const taken = await users.findTaken(input.username, input.email)
    if (taken.username || taken.email) {
      throw new Error(`a user with that ${taken.username ? 'username' : 'email'} already exists; nothing was changed`)
    }
    const audit = createAuditRepository(database.db)
    const user = await database.db.transaction(async (tx) => {
      const created = await users.insert(
        {
          username: input.username,
          email: input.email,
          passwordHash: await hashPassword(input.password, config.bcryptRounds),
          role: 'superadmin',
          emailVerified: true,
        },
        tx,
      )
      await audit.record({ action: 'user.create', actorId: created.id, targetId: created.id, ip: 'cli', details: { role: 'superadmin', via: 'setup:superadmin' } }, tx)
      return created
    })
    console.log(`superadmin "${user.username}" created (id ${user.id}) on ${database.kind}`)
  } finally {
    await database.close()
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? `configuration error: ${error.message}` : `error: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
})
