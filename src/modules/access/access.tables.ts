import type { Generated } from 'kysely'

export interface CustomRolesTable {
  org_id: string
  name: string
  description: Generated<string>
  permissions: string[]
  created_at: Generated<Date>
}

export interface AccessTables {
  custom_roles: CustomRolesTable
}
